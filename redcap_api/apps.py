from django.apps import AppConfig


class RedcapConfig(AppConfig):
    """A REDCap-compatible API of the registry, for scripts written for REDCap. The package is
    not called `redcap`: that is the import name of PyCap, the REDCap client for Python."""

    name = "redcap_api"
    label = "redcap"
    verbose_name = "REDCap-compatible API"
