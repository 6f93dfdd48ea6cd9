/**
 * A minimal registry: keys are paths ("\Registry\Machine\System\CurrentControlSet\Services\
 * SanProxy\Parameters"), values are DWORDs or strings. Enough for a driver to read its
 * parameters the way it would with RtlQueryRegistryValues / ZwQueryValueKey, so per-host
 * configuration reaches a driver through the RegistryPath DriverEntry receives, not a global.
 */
export type RegistryValue = number | string;

export class Registry {
  private readonly keys = new Map<string, Map<string, RegistryValue>>();

  setValue(keyPath: string, valueName: string, value: RegistryValue): void {
    const key = keyPath.toLowerCase();
    let values = this.keys.get(key);
    if (!values) {
      values = new Map();
      this.keys.set(key, values);
    }
    values.set(valueName.toLowerCase(), value);
  }

  /** The value, or undefined when the key or value does not exist (STATUS_OBJECT_NAME_NOT_FOUND). */
  queryValue(keyPath: string, valueName: string): RegistryValue | undefined {
    if (typeof keyPath !== 'string' || typeof valueName !== 'string') return undefined;
    return this.keys.get(keyPath.toLowerCase())?.get(valueName.toLowerCase());
  }
}
