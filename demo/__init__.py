"""The demo's stand-ins for the agencies: the tourist-site HTTP API (``agency_api``), the public-service
portal's database (``portal_db``) and the sample deliveries dropped into the inboxes (``samples``).

Product code never imports this package (``tests/unit/test_layout.py``); the demo tells Kho where its
stand-ins are the way a province would, through variables in ``services.env``.
"""
