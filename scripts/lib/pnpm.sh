# Sourced by the entry scripts: a `pnpm` that works on a machine with only Node.js and npm.
# Corepack's signature check fails offline-ish registries, so pnpm comes from the registry via npx,
# pinned to the version in package.json's "packageManager".
PNPM_VERSION=$(node -p "require('./package.json').packageManager.split('@')[1]")
pnpm() {
  if command -v pnpm >/dev/null 2>&1 && [[ "$(command pnpm --version 2>/dev/null)" == "$PNPM_VERSION" ]]; then
    command pnpm "$@"
  else
    npx -y "pnpm@$PNPM_VERSION" "$@"
  fi
}
