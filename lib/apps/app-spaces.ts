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
