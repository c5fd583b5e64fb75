# Dates in English pages are shown as they are typed (ISO 8601), never as the
# ambiguous US month/day order. Italian keeps Django's own formats (d/m/Y).
DATE_INPUT_FORMATS = ["%Y-%m-%d"]
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
DATETIME_FORMAT = "Y-m-d H:i"
DATE_FORMAT = "j M Y"
