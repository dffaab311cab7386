"""Validating: may the data go out? The Great Expectations suites in ``expectations/`` run against raw loads
and marts (``quality``: suites, validation, Data Docs); ``gate`` says whether a dataset may be published."""
