"""The fleet: its description (``description``) and everything that crosses MQTT.

- ``messages``, ``topics``: the protocol (one definition, used by the dispatcher and the simulator)
- ``link``: the dispatcher's MQTT link (commands with ack/retry, registry, event stream)
- ``registry``, ``hub``: the live fleet view and the non-blocking subscriber fan-out
- ``connection``, ``embedded_broker``: broker addresses, client settings, the zero-set-up broker
- ``clock``: the injectable clock shared with the simulator
"""
