"""Unit tests of ckanext-kho's search pieces that need no CKAN (analysis, Lucene parser, SQL translation).

They run in any environment: ``pytest ckanext-kho/tests`` (the package is put on the path here).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
