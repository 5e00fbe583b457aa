"""RCS: the operator channels (one module per operator interface), the MaaP simulator, callback
verification and the capability cache.

Import what you need from its module (e.g. `rcs.maap`): the package
itself loads nothing, so code that needs only an interface does not pull in the rest.
"""
