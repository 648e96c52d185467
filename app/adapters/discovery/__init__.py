"""Drop-in discovery: find drop-ins, load them by file path, keep the agent registry current.

The submodules that import the Agents SDK (``loader``, and ``toolmodules`` beside it) are
imported only once a Python drop-in or a tool module is found; they import ``app.adapters.sdk``
first, which makes sure ``agents`` means the installed SDK.
"""
