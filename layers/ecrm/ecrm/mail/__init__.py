"""Mail context: inbound parsing, loop protection, language, FAQ matching, intents and auto-replies.

The modules here are pure (no boto3, no I/O, no clock reads). Import the submodule you need
(`ecrm.mail.inbound`, `ecrm.mail.loops`, ...): this package deliberately re-exports nothing so that
importing one piece does not pay for the others at cold start.
"""
