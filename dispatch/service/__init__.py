"""The dispatcher service: intake, planning rounds, mission commands, fleet events, recovery.

The entry point is :class:`dispatch.service.dispatcher.Dispatcher`; ``dronedispatch run`` starts it.
"""
