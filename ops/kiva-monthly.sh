#!/bin/sh
# The monthly run of a partner's server: push the previous month's repayments, written
# by the MIS export to exports/repayments-YYYY-MM.csv, to Kiva. Run by cron
# (kiva.crontab) or systemd (kiva-monthly.timer). Prints nothing when every repayment
# went through (--quiet), so cron mails only when a person is needed; every run is
# appended to the log with dates, upload ids and what to do.
# Settings: /etc/kiva/kiva.env (KIVA_CREDENTIALS=..., KIVA_ENV=production, KIVA_LANG=fr).
set -eu
cd "${KIVA_HOME:-/srv/kiva}"
period=$(date -d "$(date +%Y-%m-01) -1 day" +%Y-%m)
exec kiva push repayments --mapping mfi.lua --input "exports/repayments-$period.csv" --period "$period" \
    --yes --quiet --log "${KIVA_LOG:-/var/log/kiva/kiva.log}" --problems "reports/problems-$period.xlsx"
