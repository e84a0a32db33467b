/** Why an engine call failed, as a type a caller can branch on. */
export class DockerError extends Error {
  override name = "DockerError";
}
export class DaemonUnreachableError extends DockerError {
  override name = "DaemonUnreachableError";
}
export class ImageNotFoundError extends DockerError {
  override name = "ImageNotFoundError";
}
export class PortInUseError extends DockerError {
  override name = "PortInUseError";
}
