"""frontdesk for Python: see and use a contact center live (the uniffi bindings of the Rust library).

Everything is the module uniffi generates (maturin puts it in ``frontdesk/frontdesk/``, beside the
library), re-exported here. This file only makes a
listener's exception visible: the library calls listeners from its own thread, so an exception has
nowhere to go; it is logged on the ``frontdesk`` logger with its traceback (Python's last-resort
handler prints it on stderr when logging is not configured) and the next event still comes.
"""

import logging as _logging

from .frontdesk import frontdesk as _generated
from .frontdesk.frontdesk import *  # noqa: F401,F403
from .frontdesk.frontdesk import ListenerError

_log = _logging.getLogger("frontdesk")
_call_listener = _generated._uniffi_trait_interface_call_with_error


def _call_listener_logged(call_status, make_call, write_return_value, error_type, lower_error):  # type: ignore[no-untyped-def]
    # Wraps the generated trampoline that every listener call goes through (ClientListener and
    # AgentListener alike), so subclasses and duck-typed listeners are covered the same way.
    def call():  # type: ignore[no-untyped-def]
        try:
            return make_call()
        except Exception as e:
            _log.exception("a frontdesk listener raised; the library goes on with the next event")
            # Reported tells the library it was logged here, so it does not print it a second time.
            raise ListenerError.Reported(repr(e)) from e

    return _call_listener(call_status, call, write_return_value, error_type, lower_error)


_generated._uniffi_trait_interface_call_with_error = _call_listener_logged
