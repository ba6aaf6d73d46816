"""Open311 GeoReport v2: an adapter over intake and cases; Open311 words stay in this package."""
