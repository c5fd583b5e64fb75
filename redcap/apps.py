from django.apps import AppConfig


class RedcapConfig(AppConfig):
    """A REDCap-compatible API of the registry, for scripts written for REDCap."""

    name = "redcap"
    verbose_name = "REDCap-compatible API"
