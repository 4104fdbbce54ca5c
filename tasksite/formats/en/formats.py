"""Date formats for English (FORMAT_MODULE_PATH): times to the second, with their
time zone, so two runs a few seconds apart read apart and no one guesses the zone.
Django 5 always localizes, so the DATETIME_FORMAT setting alone would be ignored."""

DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s T"
