"""Flight search service: direct and one-stop flight search over the flight catalog."""
