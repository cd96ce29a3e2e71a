"""ecrm: the shared domain, services and AWS adapters of the serverless e-CRM (deployed as a Lambda layer).

Every entry point imports `ecrm` before anything heavy, so this is where a Lambda container's init phase
starts: the garbage collector is paused until the first invocation ends (`ecrm.platform.coldstart`).
"""

from ecrm.platform import coldstart as _coldstart

_coldstart.pause()
