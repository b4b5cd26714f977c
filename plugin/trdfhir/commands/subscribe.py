"""register FHIR Subscriptions so that `trd-fhir serve` re-evaluates a patient when it changes

    TRDFHIR_SUBSCRIPTION_SECRET=... trd-fhir subscribe --fhir-base URL \\
        --endpoint https://trd.example.org/subscriptions/notify
    trd-fhir subscribe --fhir-base URL --endpoint URL --topic TOPIC-URL   # Backport IG form

Registers R4 rest-hook Subscriptions for what changes a stage: antidepressant
MedicationRequest/Statement/Dispense/Administration, the scale and lab Observations trd-fhir
reads (by code), QuestionnaireResponses, Procedures and Conditions. Each notification carries the
shared secret ($TRDFHIR_SUBSCRIPTION_SECRET) as `Authorization: Bearer`, which `trd-fhir serve`
(with the same secret in its settings) checks. With --topic, one topic-based Subscription
(Subscriptions Backport IG) instead, if the server's CapabilityStatement offers that topic.
Running it again registers nothing twice. Credentials as for `trd-fhir sync`.
"""

from __future__ import annotations

import argparse
import os
import sys

import requests

from ..client.subscriptions import (
    backport_subscription,
    check_endpoint,
    classic_subscriptions,
    offered_topics,
    register,
    stage_criteria,
)
from ..errors import FhirServerError, SettingsError
from ..mappings import load_mappings
from .export import add_access_arguments

SECRET_ENV = "TRDFHIR_SUBSCRIPTION_SECRET"  # noqa: S105 - a variable name, not a secret
MIN_SECRET = 16


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fhir-base", required=True, metavar="URL", help="FHIR R4 base URL")
    parser.add_argument(
        "--endpoint",
        required=True,
        metavar="URL",
        help="where the server sends notifications: trd-fhir serve's /subscriptions/notify",
    )
    parser.add_argument(
        "--topic",
        action="append",
        metavar="URL",
        help="a SubscriptionTopic canonical the server offers (Backport IG form; repeatable)",
    )
    parser.add_argument(
        "--mappings", metavar="DIR", help="a mappings directory for the codes (default: built in)"
    )
    add_access_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from .export import open_client

    secret = os.environ.get(SECRET_ENV, "")
    if len(secret) < MIN_SECRET:
        raise SettingsError(
            f"set {SECRET_ENV} to a shared secret of at least {MIN_SECRET} characters "
            "(the same one in trd-fhir serve's subscription_secret)"
        )
    endpoint = check_endpoint(args.endpoint)
    args.write = False
    args.dry_run = False
    if not args.scope:
        args.scope = "system/Subscription.crs"
    session = requests.Session()
    try:
        with open_client(args, session) as client:
            statement = client.get_json("metadata", what="read CapabilityStatement")
            if args.topic:
                offered = offered_topics(statement)
                missing = [t for t in args.topic if t not in offered]
                if missing:
                    raise FhirServerError(
                        f"the server does not offer the topic {missing[0]} "
                        f"(it offers {len(offered)} topics; see its CapabilityStatement)"
                    )
                subs = [(t, backport_subscription(t, endpoint, secret)) for t in args.topic]
            else:
                subs = classic_subscriptions(
                    stage_criteria(load_mappings(args.mappings)), endpoint, secret
                )
            results = register(client, subs)
    finally:
        session.close()
    failed = [r for r in results if r.status in ("error", "off")]
    for r in results:
        how = (
            "registered" if r.created else "secret replaced" if r.updated else "already registered"
        )
        error = f" ({r.error})" if r.error else ""
        sys.stdout.write(f"{r.label}: {how} as Subscription/{r.id}, status {r.status}{error}\n")
    sys.stdout.write(
        f"subscribe: {len(results)} Subscriptions, {sum(r.created for r in results)} new, "
        f"{sum(r.updated for r in results)} with a new secret, "
        f"{len(failed)} refused by the server\n"
    )
    return FhirServerError.exit_code if failed else 0
