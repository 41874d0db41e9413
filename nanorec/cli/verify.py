"""``nanorec verify [MODEL|all]``: a certificate per model (nanorec.testing.verify).

Each model is fitted small, in float64, on a tiny synthetic log, and checked: its network and loss
against finite differences, its fused kernel against its composed network, its loss falling, and a
save/load round trip giving identical scores. Exit status 0 only when every check passes.
"""

import json

from nanorec.cli.common import REGISTRY
from nanorec.testing.verify import table, verify_model

HELP = "certify models: gradients, fused kernel vs network, loss falls, save/load"


def add_options(parser):
    parser.add_argument("model", nargs="?", default="all", choices=["all", *REGISTRY],
                        metavar="MODEL", help=f"what to verify (default: all): {', '.join(REGISTRY)}")
    parser.add_argument("--seed", type=int, default=0, help="seed of the tiny log and the models")
    parser.add_argument("--json", action="store_true", help="print the certificates as JSON")


def run(args):
    names = list(REGISTRY) if args.model == "all" else [args.model]
    certificates = {name: verify_model(REGISTRY[name], seed=args.seed) for name in names}
    passed = all(certificate.passed for certificate in certificates.values())
    if args.json:
        print(json.dumps([certificate.as_dict() for certificate in certificates.values()], indent=2))
    else:
        print("nanorec verify: each model fitted small in float64 on a tiny synthetic log")
        print(table(certificates))
        n_passed = sum(certificate.passed for certificate in certificates.values())
        print(f"{n_passed}/{len(certificates)} models certified")
    return 0 if passed else 1
