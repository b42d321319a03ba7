#!/usr/bin/python3
"""B1 peer: the bench mapping, validation and encoding written the way Kiva's Python
sample would grow (csv, json, jsonschema), run on the same generated export.

    /usr/bin/python3 bench/peer_pipeline.py loans|repayments|export INPUT [--out FILE] [--out-dir DIR] [--limit N]

`export` is the comma-separated export of `bench/gen.lua export` (LoanNo, ClientNo,
AmountPaid read, however many columns). --out-dir writes one JSON file per request
body (a draft, a batch of 250 repayments), as `kiva push --dry-run --out DIR` does.

Prints one line of key=value figures: rows read, items, valid, invalid, wall and CPU
seconds, peak RSS.
Uses Debian's python3-jsonschema (Draft202012Validator) over lua/kiva/schemas/<kind>.json
when that is plain JSON Schema, else over the transcription below (said in schema=).
"""
import csv
import json
import os
import re
import sys
import time
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

try:
    from jsonschema import Draft202012Validator
except ImportError:  # pragma: no cover
    print("skipped=python3-jsonschema_missing")
    sys.exit(0)

# A transcription of the Partner API contract (docs: kiva-partner-api.md), used when
# the project's schema files are absent or use keywords of their own.
DATE = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
NONEMPTY = {"type": "string", "minLength": 1}
FALLBACK = {
    "loan_draft": {
        "type": "object",
        "required": ["entreps"],
        "additionalProperties": False,
        "properties": {
            "activity_id": {"type": "integer", "minimum": 1},
            "description_language_id": {"type": "integer", "minimum": 1},
            "theme_type_id": {"type": "integer", "minimum": 1},
            "location": NONEMPTY,
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "disburse_time": DATE,
            "client_waiver_signed": {"type": "boolean"},
            "loanuse": NONEMPTY,
            "description": NONEMPTY,
            "image_encoded": {"type": "string", "pattern": "^data:image/(jpeg|png|gif);base64,"},
            "entreps": {
                "type": "array", "minItems": 1,
                "items": {
                    "type": "object", "additionalProperties": False,
                    "required": ["client_id", "loan_id", "amount"],
                    "properties": {
                        "client_id": NONEMPTY, "loan_id": NONEMPTY,
                        "first_name": NONEMPTY, "last_name": NONEMPTY,
                        "gender": {"enum": ["male", "female", "nonbinary", "unknown"]},
                        "amount": {"type": "number", "exclusiveMinimum": 0},
                    },
                },
            },
            "schedule": {
                "type": "array",
                "items": {
                    "type": "object", "additionalProperties": False,
                    "required": ["date", "principal", "interest"],
                    "properties": {
                        "date": DATE,
                        "principal": {"type": "number", "minimum": 0},
                        "interest": {"type": "number", "minimum": 0},
                    },
                },
            },
            "group_name": NONEMPTY,
            "internal_client_id": NONEMPTY,
            "internal_loan_id": NONEMPTY,
            "not_pictured": {"type": "array", "items": {"type": "boolean"}},
        },
    },
    "repayments": {
        "type": "object", "required": ["repayments"], "additionalProperties": False,
        "properties": {
            "repayments": {
                "type": "array", "minItems": 1, "maxItems": 300,
                "items": {
                    "type": "object", "additionalProperties": False,
                    "required": ["loan_id", "amount"],
                    "properties": {
                        "loan_id": NONEMPTY, "client_id": NONEMPTY,
                        "amount": {"type": "number", "exclusiveMinimum": 0},
                    },
                },
            },
        },
    },
}


def load_schema(kind):
    path = os.path.join(ROOT, "lua", "kiva", "schemas", kind + ".json")
    try:
        with open(path, encoding="utf-8") as f:
            schema = json.load(f)
        Draft202012Validator.check_schema(schema)
        return schema, "project"
    except (OSError, ValueError, Exception):  # absent, not JSON, or not plain JSON Schema
        return FALLBACK[kind], "transcription"


# --- the mapping helpers (kiva.map), as a partner would write them -------------------

def trim(s):
    if s is None:
        return None
    s = s.strip()
    return s or None


AMOUNT_GROUPING = re.compile(r"[ \u00a0\u202f]")


def amount(s, decimal="."):
    s = trim(s)
    if s is None:
        return None
    s = AMOUNT_GROUPING.sub("", s)
    if decimal == ",":
        s = s.replace(".", "").replace(",", ".")
    else:
        s = s.replace(",", "")
    try:
        return round(float(s), 2)
    except ValueError:
        return None


def date(s, fmt="dd/mm/yyyy"):
    m = re.match(r"^(\d{1,2})/(\d{1,2})/(\d{4})$", trim(s) or "")
    if not m:
        return None
    d, mo, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
    return "%04d-%02d-%02d" % (y, mo, d)


GENDERS = {"f": "female", "femme": "female", "female": "female", "mujer": "female",
           "m": "male", "h": "male", "homme": "male", "male": "male", "hombre": "male"}


def gender(s):
    return GENDERS.get((trim(s) or "").lower(), "unknown")


def fold(s):
    return "".join(c for c in unicodedata.normalize("NFKD", s)
                   if not unicodedata.combining(c)).lower()


class Ctx:
    """Name lookups against the config lists (here the canned bench/config.json)."""

    def __init__(self, config):
        self.activities = config["activities"]["activities"]
        self.locales = config["locales"]["locales"]
        self.themes = config["themes"]["themes"]
        self.locations = config["locations"]["locations"]

    def activity(self, name):
        for a in self.activities:
            if fold(a["activity"]) == fold(name):
                return a["activity_id"]
        return None

    def language(self, name):
        for lo in self.locales:
            if fold(name) in (fold(lo["language_name"]), fold(lo["language_code"])):
                return lo["language_id"]
        return None

    def theme(self, name):
        for t in self.themes:
            if fold(t["theme_type"]) == fold(name):
                return t["theme_type_id"]
        return None

    def location(self, name):
        for lo in self.locations:
            if fold(name) in (fold(lo["location"]), fold(lo["full_name"])):
                return lo["full_name"]
        return None


# --- the mapping (bench/mapping_loans.lua, bench/mapping_repayments.lua), line for line ------------

def cents(s):
    v = amount(s, decimal=",")
    return None if v is None else int(v * 100 + 0.5)


def schedule(total, rate_cents, n, disbursed):
    y, m, d = disbursed.split("-")
    y, m = int(y), int(m) - 1
    each = total // n
    interest = (total * rate_cents) // (100 * 100 * n)
    out = []
    for k in range(1, n + 1):
        months = m + k
        principal = total - each * (n - 1) if k == n else each
        out.append({"date": "%04d-%02d-%s" % (y + months // 12, months % 12 + 1, d),
                    "principal": principal / 100, "interest": interest / 100})
    return out


def loan_draft(rows, ctx):
    first = rows[0]
    entreps, total = [], 0
    for row in rows:
        a = cents(row["Amount"])
        total += a or 0
        entreps.append({"client_id": trim(row["ClientNo"]), "loan_id": trim(row["LoanNo"]),
                        "first_name": trim(row["FirstName"]), "last_name": trim(row["LastName"]),
                        "gender": gender(row["Gender"]),
                        "amount": None if a is None else a / 100})
    disbursed = date(first["Disbursed"])
    rate = cents(first["Rate"])
    theme = trim(first["Theme"])
    draft = {
        "activity_id": ctx.activity(first["Activity"]),
        "description_language_id": ctx.language(first["Language"]),
        "theme_type_id": ctx.theme(theme) if theme else None,
        "location": ctx.location(first["Location"]),
        "currency": trim(first["Currency"]),
        "disburse_time": disbursed,
        "client_waiver_signed": trim(first["Waiver"]) == "oui",
        "loanuse": trim(first["Use"]),
        "description": trim(first["Story"]),
        "entreps": entreps,
        "schedule": schedule(total, rate, int(first["Installments"] or 12), disbursed)
        if disbursed and rate is not None else None,
    }
    if trim(first["GroupNo"]):
        draft["group_name"] = trim(first["GroupName"])
        draft["internal_loan_id"] = first["GroupNo"]
        draft["internal_client_id"] = "GC" + first["GroupNo"][1:]
        draft["not_pictured"] = [False] * len(rows)
    return {k: v for k, v in draft.items() if v is not None}  # Lua drops nil fields too


def repayment(row):
    r = {"loan_id": trim(row["LoanNo"]), "client_id": trim(row["ClientNo"]),
         "amount": amount(row["Paid"], decimal=",")}
    return {k: v for k, v in r.items() if v is not None}


def export_repayment(row):
    """bench/mapping_export.lua"""
    r = {"loan_id": trim(row["LoanNo"]), "client_id": trim(row["ClientNo"]),
         "amount": amount(row["AmountPaid"])}
    return {k: v for k, v in r.items() if v is not None}


# --- Kiva rules a careful client adds (kiva-partner-api.md) ---------------------------

def draft_rules(d):
    errors = []
    entreps = d.get("entreps", [])
    group_fields = [f for f in ("group_name", "internal_client_id", "internal_loan_id", "not_pictured")
                    if f in d]
    if len(entreps) == 1 and group_fields:
        errors.append("individual loan carries group fields")
    if "not_pictured" in d and len(d["not_pictured"]) != len(entreps):
        errors.append("not_pictured: one per borrower")
    sched = d.get("schedule", [])
    if sched:
        dates = [s["date"] for s in sched]
        if dates != sorted(dates) or (d.get("disburse_time") and dates[0] < d["disburse_time"]):
            errors.append("schedule dates not ascending")
        p = sum(round(s["principal"] * 100) for s in sched)
        a = sum(round(e.get("amount", 0) * 100) for e in entreps)
        if p != a:
            errors.append("schedule principal differs from amounts")
    return errors


def main():
    kind, path = sys.argv[1], sys.argv[2]
    out_path = "/dev/null"
    out_dir = None
    limit = None
    args = sys.argv[3:]
    while args:
        opt = args.pop(0)
        if opt == "--out":
            out_path = args.pop(0)
        elif opt == "--out-dir":
            out_dir = args.pop(0)
            os.makedirs(out_dir, exist_ok=True)
        elif opt == "--limit":
            limit = int(args.pop(0))
    with open(os.path.join(ROOT, "bench", "config.json"), encoding="utf-8") as f:
        ctx = Ctx(json.load(f))
    schema_kind = "loan_draft" if kind == "loans" else "repayments"
    schema, source = load_schema(schema_kind)
    validator = Draft202012Validator(schema)
    started, cpu_started = time.perf_counter(), time.process_time()
    rows = items = valid = invalid = nbytes = 0
    with open(path, newline="", encoding="utf-8") as f, open(out_path, "w", encoding="utf-8") as out:
        reader = csv.DictReader(f, delimiter="," if kind == "export" else ";")
        map_row = export_repayment if kind == "export" else repayment

        def emit(body, errors):
            nonlocal valid, invalid, nbytes
            errors = list(validator.iter_errors(body)) + errors
            if errors:
                invalid += 1
                return
            valid += 1
            s = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
            nbytes += len(s.encode("utf-8")) + 1
            if out_dir:
                with open(os.path.join(out_dir, "%s-%06d.json" % (schema_kind, valid)), "w",
                          encoding="utf-8") as one:
                    one.write(s)
            out.write(s)
            out.write("\n")

        if kind == "loans":
            groups = {}
            order = []
            for row in reader:
                rows += 1
                if limit and rows > limit:
                    rows -= 1
                    break
                g = trim(row["GroupNo"])
                if g is None:
                    order.append([row])
                elif g in groups:
                    groups[g].append(row)
                else:
                    groups[g] = [row]
                    order.append(groups[g])
            for group in order:
                d = loan_draft(group, ctx)
                items += 1
                emit(d, draft_rules(d))
        else:
            batch = []
            for row in reader:
                rows += 1
                if limit and rows > limit:
                    rows -= 1
                    break
                batch.append(map_row(row))
                items += 1
                if len(batch) == 250:
                    emit({"repayments": batch}, [])
                    batch = []
            if batch:
                emit({"repayments": batch}, [])
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    with open("/proc/self/status") as f:
        rss = int(re.search(r"VmHWM:\s*(\d+)", f.read()).group(1))
    print("rows=%d items=%d valid=%d invalid=%d seconds=%.4f cpu_seconds=%.4f rss_kib=%d bytes=%d schema=%s"
          % (rows, items, valid, invalid, seconds, cpu_seconds, rss, nbytes, source))


if __name__ == "__main__":
    main()
