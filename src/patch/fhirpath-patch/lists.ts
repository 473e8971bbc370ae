/**
 * Editing repeating elements: a value list and its `_x` companion of extensions move together.
 * @packageDocumentation
 */

/** The length of the list under `key`, counting its `_key` companion. */
export function listLength(container: Record<string, unknown>, key: string): number {
  const values = container[key];
  const ext = container[`_${key}`];
  return Math.max(Array.isArray(values) ? values.length : 0, Array.isArray(ext) ? ext.length : 0);
}

/** Removes the list under `key` (and its companion) once nothing but nulls is left. */
export function cleanUp(container: Record<string, unknown>, key: string): void {
  const values = container[key];
  if (Array.isArray(values) && (values.length === 0 || values.every((v) => v === null))) delete container[key];
  const ext = container[`_${key}`];
  if (Array.isArray(ext) && ext.every((e) => e === null)) delete container[`_${key}`];
}

/** `Array.prototype.splice` on the list under `key` and its `_key` companion together. */
export function spliceList(container: Record<string, unknown>, key: string, start: number, deleteCount: number, items: { value: unknown; extension?: unknown }[]): void {
  const length = listLength(container, key);
  const values = Array.isArray(container[key]) ? (container[key] as unknown[]) : undefined;
  const ext = Array.isArray(container[`_${key}`]) ? (container[`_${key}`] as unknown[]) : undefined;
  const needExt = ext !== undefined || items.some((item) => item.extension !== undefined);
  const valueList = values ?? (container[key] = Array.from({ length }, () => null) as unknown[]);
  while (valueList.length < length) valueList.push(null);
  valueList.splice(start, deleteCount, ...items.map((item) => item.value));
  if (needExt) {
    const extList = ext ?? (container[`_${key}`] = Array.from({ length }, () => null) as unknown[]);
    while (extList.length < length) extList.push(null);
    extList.splice(start, deleteCount, ...items.map((item) => item.extension ?? null));
  }
  cleanUp(container, key);
}
