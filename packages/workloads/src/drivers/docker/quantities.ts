/** Parses CPU and memory limits and port mappings, refusing anything ambiguous with a message that shows the accepted forms. */

/** A spec the engine cannot run as written: terminal for the workload kind (a retry cannot fix it). */
export class InvalidSpecError extends Error {
  override name = "InvalidSpecError";
  readonly terminal = true;
}

/** `500m` (millicores), `2`, `0.5` -> Docker NanoCPUs. */
export function parseCpus(value: string | number): number {
  const text = String(value).trim();
  const milli = /^(\d+)m$/.exec(text);
  const cpus = milli
    ? Number(milli[1]) / 1000
    : /^\d+(\.\d+)?$/.test(text)
      ? Number(text)
      : Number.NaN;
  if (!Number.isFinite(cpus) || cpus < 0.01) {
    throw new InvalidSpecError(
      `invalid CPU limit '${value}': use millicores (500m), or cores (2, 0.5); at least 10m`,
    );
  }
  return Math.round(cpus * 1e9);
}

const MEMORY_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  // Docker's own CLI units are binary.
  k: 2 ** 10,
  m: 2 ** 20,
  g: 2 ** 30,
};

/** `512Mi`, `2Gi`, `1G`, `512m` (Docker: MiB), or bytes -> bytes. Docker refuses less than 6 MiB. */
export function parseMemory(value: string | number): number {
  const match = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/.exec(String(value).trim());
  const unit = match ? MEMORY_UNITS[match[2]!] : undefined;
  const bytes = match && unit !== undefined ? Math.round(Number(match[1]) * unit) : Number.NaN;
  if (!Number.isFinite(bytes))
    throw new InvalidSpecError(
      `invalid memory limit '${value}': use 512Mi, 2Gi, 1G, 512m or a number of bytes`,
    );
  if (bytes < 6 * 2 ** 20)
    throw new InvalidSpecError(`memory limit '${value}' is below Docker's minimum of 6Mi`);
  return bytes;
}

export interface PortMapping {
  container: number;
  /** Absent: Docker picks a free host port. */
  host?: number;
  protocol: "tcp" | "udp";
  /** Host address to bind; absent = all addresses. */
  hostIp?: string;
}

const port = (text: string, what: string, original: string) => {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535)
    throw new InvalidSpecError(`invalid ${what} port in '${original}': ports are 1-65535`);
  return n;
};

/** Docker's `-p` forms: `8080`, `80:8080`, `8080:8080/udp`, `127.0.0.1:80:8080`, `127.0.0.1::8080`. */
export function parsePort(value: string | number): PortMapping {
  const original = String(value);
  const [mapping, proto = "tcp", extra] = original.split("/");
  if (extra !== undefined || (proto !== "tcp" && proto !== "udp")) {
    throw new InvalidSpecError(
      `invalid port '${original}': the protocol is tcp or udp, e.g. 8080:8080/udp`,
    );
  }
  const parts = mapping!.split(":");
  const protocol = proto as "tcp" | "udp";
  if (parts.length === 1) return { container: port(parts[0]!, "container", original), protocol };
  if (parts.length === 2)
    return {
      host: port(parts[0]!, "host", original),
      container: port(parts[1]!, "container", original),
      protocol,
    };
  if (parts.length === 3) {
    const [hostIp, host, container] = parts as [string, string, string];
    if (!/^[\d.]+$|^\[?[0-9a-fA-F:]+\]?$/.test(hostIp))
      throw new InvalidSpecError(`invalid host address '${hostIp}' in port '${original}'`);
    return {
      hostIp,
      ...(host === "" ? {} : { host: port(host, "host", original) }),
      container: port(container, "container", original),
      protocol,
    };
  }
  throw new InvalidSpecError(
    `invalid port '${original}': use 8080, 80:8080, 8080:8080/udp or 127.0.0.1:80:8080`,
  );
}

/** A mount as Docker's API takes it (`Mounts[]`). */
export interface VolumeMount {
  Type: "bind" | "volume" | "tmpfs";
  Source: string;
  Target: string;
  ReadOnly: boolean;
}

/** A volume in either spec form: `SOURCE:/target[:ro]`, or `{type, source, target, readOnly}`. */
export type VolumeInput =
  | string
  | {
      type: "bind" | "volume" | "tmpfs";
      source?: string | undefined;
      target: string;
      readOnly: boolean;
    };

/**
 * `SOURCE:/target[:ro]` (a SOURCE starting with / or . is a host path, else a volume name) or
 * the object form -> a Docker mount. A bind source must be absolute: Docker refuses a relative
 * one, and the supervisor could not know which directory it was relative to.
 */
export function parseVolume(v: VolumeInput): VolumeMount {
  if (typeof v === "string") {
    const [source, target, mode, extra] = v.split(":");
    if (
      !source ||
      !target ||
      extra !== undefined ||
      (mode !== undefined && mode !== "ro" && mode !== "rw") ||
      !target.startsWith("/")
    ) {
      throw new InvalidSpecError(`invalid volume '${v}': use SOURCE:/target[:ro]`);
    }
    const bind = source.startsWith("/") || source.startsWith(".");
    if (bind) absoluteBindSource(source, target);
    return {
      Type: bind ? "bind" : "volume",
      Source: source,
      Target: target,
      ReadOnly: mode === "ro",
    };
  }
  if (v.type === "tmpfs")
    return { Type: "tmpfs", Source: "", Target: v.target, ReadOnly: v.readOnly };
  if (!v.source)
    throw new InvalidSpecError(
      `volume for ${v.target} needs a source (a host path or a volume name)`,
    );
  if (v.type === "bind") absoluteBindSource(v.source, v.target);
  return { Type: v.type, Source: v.source, Target: v.target, ReadOnly: v.readOnly };
}

function absoluteBindSource(source: string, target: string): void {
  if (!source.startsWith("/"))
    throw new InvalidSpecError(
      `bind mount source '${source}' (for ${target}) is a relative path: give the absolute host path, e.g. '/srv/data'`,
    );
}
