/**
 * Where users keep secrets: private keys, keyrings, token stores, browsers' password databases
 * and cookies. Nothing matching these is collected, from any space, unless the user opts in for
 * that path (`cloudy add --secret PATH`): a vault is only as safe as its password, and most of
 * these have safer ways to travel (a new key per computer, the keyring's own sync). Every
 * catalog entry that claims a folder holding one of them lists it in its `secrets` too (the
 * catalog's schema test checks it), so `cloudy apps list` can say what is held back.
 */
export const KNOWN_SECRET_STORES = [
  // SSH and GnuPG private keys.
  '~/.ssh/id_*',
  '~/.ssh/*.pem',
  '~/.gnupg/private-keys-v1.d',
  '~/.gnupg/secring.gpg',
  // Keyrings and password stores.
  '$XDG_DATA_HOME/keyrings',
  '$XDG_DATA_HOME/kwalletd',
  '~/.password-store',
  '*.kdbx',
  // Token and credential files of command-line tools.
  '~/.git-credentials',
  '$XDG_CONFIG_HOME/git/credentials',
  '~/.netrc',
  '~/.pgpass',
  '~/.my.cnf',
  '~/.vault-token',
  '~/.aws/credentials',
  '~/.docker/config.json',
  '~/.kube/config',
  '~/.npmrc',
  '~/.pypirc',
  '~/.cargo/credentials',
  '~/.cargo/credentials.toml',
  '$XDG_CONFIG_HOME/gh/hosts.yml',
  '$XDG_CONFIG_HOME/rclone/rclone.conf',
  '$XDG_CONFIG_HOME/gcloud/credentials.db',
  '$XDG_CONFIG_HOME/gcloud/access_tokens.db',
  '~/.azure/msal_token_cache.json',
  // Browsers' and mail clients' saved passwords, keys and cookies.
  '~/.mozilla/firefox/*/logins.json',
  '~/.mozilla/firefox/*/key4.db',
  '~/.mozilla/firefox/*/cookies.sqlite',
  '~/.thunderbird/*/logins.json',
  '~/.thunderbird/*/key4.db',
  '$XDG_CONFIG_HOME/google-chrome/*/Login Data',
  '$XDG_CONFIG_HOME/google-chrome/*/Cookies',
  '$XDG_CONFIG_HOME/chromium/*/Login Data',
  '$XDG_CONFIG_HOME/chromium/*/Cookies',
  '$XDG_CONFIG_HOME/BraveSoftware/Brave-Browser/*/Login Data',
  '$XDG_CONFIG_HOME/BraveSoftware/Brave-Browser/*/Cookies',
] as const
