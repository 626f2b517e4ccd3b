"""frontdesk for Python: see and use a contact center live (the uniffi bindings of the Rust library).

Everything is the module uniffi generates (maturin puts it in ``frontdesk/frontdesk/``, beside the
library), re-exported here; this package adds ``py.typed``, since that module carries inline hints.
"""

from .frontdesk.frontdesk import *  # noqa: F401,F403
