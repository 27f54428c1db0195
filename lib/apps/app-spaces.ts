/**
 * Application spaces (docs/FORMAT.md, "Spaces"): each application's data lives in its own
 * space `app/<id>`, sealed with its own key, and the list of applications is a space of its own,
 * `apps`, one folder per application id: it syncs like any space, and the storage account never
 * sees an id.
 */

/** The space listing the application spaces: one folder per application id. */
export const APPS_REGISTRY = 'apps'

/** An application id: a name that is safe as one path component and as a space name. */
export const APP_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

export function appSpace(id: string): string {
  return `app/${id}`
}

/**
 * The store of the files the catalog collects from HOME for application `id` (docs/FORMAT.md,
 * "Spaces"). Its key comes from the application's space key, so one key still opens everything
 * of one application; its heads are its own, so the mount (writing the application's data) and
 * an up-sync (collecting its HOME files) never move one head on one computer.
 */
export function appHomeSpace(id: string): string {
  return `app/${id}/home`
}

/** The application id of an application home store's name, if it is one. */
export function appOfHomeSpace(space: string): string | undefined {
  const m = /^app\/([^/]+)\/home$/.exec(space)
  return m && APP_ID.test(m[1]!) ? m[1] : undefined
}
