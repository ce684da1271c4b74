"""What every stage script shares: parse paths, load params, turn bad input into a clear exit."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Callable

from .config.params import Params, load_params
from .errors import InputError


def run_stage(main: Callable[[argparse.Namespace, Params], None], parser: argparse.ArgumentParser) -> None:
    """Parse the command line and `params.yaml`, run `main`; bad input exits 2 with its message."""
    args = parser.parse_args()
    # Quiet the libraries' banners (Fabric, MLflow) so the progress bars stay readable.
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.fabric").setLevel(logging.ERROR)
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    try:
        main(args, load_params(os.environ.get("REGMIX_PARAMS", "params.yaml")))
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
