"""Label every face in a folder of images with Ray Data, on this machine or a Ray cluster.

Each Ray worker loads the model once (``facexpr.ray.Predictor``) and turns batches of image
paths into rows with the columns of ``facexpr predict DIR --csv``; Ray spreads the batches over
the workers of every machine of the cluster and writes a Parquet (or CSV) table, one file per
block. Needs ``pip install "facexpr[ray]"``. On a cluster, the folder and the model must be
reachable at the same path from every node (or use a Hub model name); see docs/scaling.rst.

Usage:
    python examples/label_with_ray.py photos/ --out faces/ --recursive --workers 3   # on 4 CPUs
    python examples/label_with_ray.py crops/ --out faces/ --format csv --no-detect
    python examples/label_with_ray.py photos/ --out faces/ --address auto   # a running Ray cluster
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="folder of images")
    parser.add_argument("--out", default="faces", help="folder for the table's files (default: faces)")
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet", help="table format (default: parquet)")
    parser.add_argument("-r", "--recursive", action="store_true", help="include subfolders")
    parser.add_argument("--model", default="better", help="model name, saved folder or Hub repo (default: better)")
    parser.add_argument("--detect", action=argparse.BooleanOptionalAction, default=None,
                        help="search every image for faces (--no-detect: every image is one face crop; "
                        "default: images over 160 pixels a side are searched)")
    parser.add_argument("--workers", type=int, default=2, help="Ray workers, each with its own model (default: 2)")
    parser.add_argument("--cpus-per-worker", type=float, default=1.0,
                        help="CPUs Ray reserves for each worker; leave some free for reading and writing (default: 1)")
    parser.add_argument("--batch-size", type=int, default=256, help="images per Ray batch (default: 256)")
    parser.add_argument("--address", default=None,
                        help="Ray cluster to join ('auto': the one this node belongs to; default: start a local one)")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray instance (default: all)")
    args = parser.parse_args(argv)

    import ray.data  # imported here, so that --help works without Ray

    import facexpr.ray

    ray.init(address=args.address, num_cpus=args.num_cpus)
    try:
        # One row per image path, picked as facexpr.predict_folder picks them.
        paths = facexpr.ray.read_image_paths(args.folder, recursive=args.recursive)
        # A pool of workers, each loading the model once; unreadable files are skipped with a warning.
        faces = paths.map_batches(
            facexpr.ray.Predictor,
            fn_constructor_kwargs={"model": args.model, "detect": args.detect},
            batch_size=args.batch_size,
            compute=ray.data.ActorPoolStrategy(size=args.workers),
            num_cpus=args.cpus_per_worker,
        )
        if args.format == "parquet":
            faces.write_parquet(args.out)  # a folder (or an s3://, gs://... URI) of part files
        else:
            faces.write_csv(args.out)
    finally:
        ray.shutdown()
    print(f"Face table written to {args.out} ({args.format}, one file per block)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
