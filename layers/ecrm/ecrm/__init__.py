"""ecrm: the shared domain, services and AWS adapters of the serverless e-CRM (deployed as a Lambda layer)."""
