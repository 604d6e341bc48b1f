#!/usr/bin/env bash
# Writes the boilerplate of one workspace package (used once per package; kept for new packages).
# usage: scripts/new-package.sh <name> <codec|node> "<description>"
set -euo pipefail
name=$1 kind=$2 desc=$3
d=packages/$name
mkdir -p "$d/src" "$d/test"
if [ "$kind" = codec ]; then types='[]'; else types='["node"]'; fi
cat > "$d/package.json" <<JSON
{
  "name": "@microvm/$name",
  "version": "0.1.0",
  "description": "$desc",
  "license": "MIT",
  "type": "module",
  "sideEffects": false,
  "engines": { "node": ">=20" },
  "main": "./dist/index.cjs",
  "module": "./dist/index.js",
  "types": "./dist/index.d.cts",
  "exports": {
    ".": {
      "import": { "types": "./dist/index.d.ts", "default": "./dist/index.js" },
      "require": { "types": "./dist/index.d.cts", "default": "./dist/index.cjs" }
    },
    "./package.json": "./package.json"
  },
  "files": ["dist"],
  "keywords": ["kvm", "microvm", "vmm", "virtualization"],
  "scripts": {
    "build": "tsup",
    "typecheck": "tsc -p tsconfig.json"
  }
}
JSON
cat > "$d/tsconfig.json" <<JSON
{
  "extends": "../../tsconfig.base.json",
  "compilerOptions": {
    "types": $types
  },
  "include": ["src"]
}
JSON
cat > "$d/tsup.config.ts" <<'TS'
// The shared build of the pure packages (../../tsup.package.ts).
export { default } from "../../tsup.package.ts";
TS
cat > "$d/typedoc.json" <<'JSON'
{
  "$schema": "https://typedoc.org/schema.json",
  "extends": ["../../typedoc.base.json"],
  "entryPoints": ["src/index.ts"],
  "readme": "README.md"
}
JSON
