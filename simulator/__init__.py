"""Simulated drones that speak the fleet protocol over MQTT, with faults and an airspace monitor.

- ``drone``: one drone's physics, battery and command handling (no I/O)
- ``agent``: one drone on the network (its own MQTT connection)
- ``fleet_sim``: the library API (``SimulatedFleet``); ``faults``: scheduled fault injection
- ``monitor``: the independent geofence-breach oracle; ``cli``: ``dronedispatch simulate``
"""
