#!/bin/sh
# Make sure the Fashion-MNIST IDX files are on disk: Debian's dataset-fashion-mnist package puts them in
# /usr/share/datasets/fashion-mnist. Installs the package when running as root; otherwise says how.
set -eu
DIR=/usr/share/datasets/fashion-mnist
if [ -n "${STRIATE_FASHION_MNIST:-}" ] && [ -f "$STRIATE_FASHION_MNIST/train-images-idx3-ubyte.gz" ]; then exit 0; fi
if [ -f "$DIR/train-images-idx3-ubyte.gz" ] && [ -f "$DIR/t10k-labels-idx1-ubyte.gz" ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Fashion-MNIST (Debian package dataset-fashion-mnist)..."
    apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; }
    exit 0
fi
echo "Fashion-MNIST is missing: run 'sudo apt-get install dataset-fashion-mnist' (Debian/Ubuntu), or put the four" >&2
echo "IDX .gz files in a folder and set STRIATE_FASHION_MNIST=/that/folder." >&2
exit 1
