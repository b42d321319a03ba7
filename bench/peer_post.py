#!/usr/bin/python3
"""B3 peer: the pattern of Kiva's Python samples. One token per run, then one
requests.post per payload, one at a time (no Session: a new connection each call,
as the samples do).

    /usr/bin/python3 bench/peer_post.py loan_draft|repayments BODIES.jsonl COUNT
    (KIVA_AUTH_URL, KIVA_API_URL, KIVA_CA_FILE from the environment)

Prints one key=value line: requests, seconds, errors, token_requests.
"""
import json
import os
import sys
import time

try:
    import requests
except ImportError:  # pragma: no cover
    print("skipped=python3-requests_missing")
    sys.exit(0)


def main():
    kind, path, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    auth, api, ca = os.environ["KIVA_AUTH_URL"], os.environ["KIVA_API_URL"], os.environ["KIVA_CA_FILE"]
    bodies = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            bodies.append(json.loads(line))
            if len(bodies) >= count:
                break
    started = time.perf_counter()
    r = requests.post(auth, data={"grant_type": "client_credentials", "audience": api,
                                  "client_id": os.environ.get("KIVA_CLIENT_ID", "bench"),
                                  "client_secret": os.environ["KIVA_CLIENT_SECRET"]},
                      headers={"Accept": "application/json"}, verify=ca)
    r.raise_for_status()
    token = r.json()
    headers = {"Authorization": "Bearer " + token["access_token"], "Accept": "application/json"}
    url = "%s/v3/partner/%s/%s" % (api, token["partnerId"], kind)
    errors = 0
    for body in bodies:
        res = requests.post(url, json=body, headers=headers, verify=ca)
        if res.status_code != 200:
            errors += 1
        res.json()
    seconds = time.perf_counter() - started
    print("requests=%d seconds=%.4f errors=%d token_requests=1" % (len(bodies), seconds, errors))


if __name__ == "__main__":
    main()
