from django.apps import AppConfig


class RedcapConfig(AppConfig):
    """A REDCap-compatible API of the registry, for scripts written for REDCap. The package is
    not called `redcap`: that is the import name of PyCap, the REDCap client for Python."""

    name = "redcap_api"
    label = "redcap"

    def ready(self):
        # The casebook is registered by now (the clinical apps come first): a form whose
        # questions the naming rule cannot name stops the start, not a client's request.
        from redcap_api.project import redcap_field_names

        redcap_field_names()
    verbose_name = "REDCap-compatible API"
