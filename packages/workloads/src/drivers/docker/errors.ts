/** Why an engine call failed, as a type a caller can branch on. */
export class DockerError extends Error {
  override name = "DockerError";
}
export class DaemonUnreachableError extends DockerError {
  override name = "DaemonUnreachableError";
}
/** The image is missing and pulling is off: no retry fixes it until someone loads the image. */
export class ImageNotFoundError extends DockerError {
  override name = "ImageNotFoundError";
  /** The workload kind fails the resource terminally (a resync still looks again). */
  readonly terminal = true;
}
export class PortInUseError extends DockerError {
  override name = "PortInUseError";
}
/** A container already has the name; the message says which one and whose. */
export class NameConflictError extends DockerError {
  override name = "NameConflictError";
}
