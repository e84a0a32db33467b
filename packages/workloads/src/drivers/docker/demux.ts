/** Splits Docker's multiplexed log format (8-byte frame headers) into stdout and stderr. */
export function demuxBuffer(buffer: Buffer): { stdout: string; stderr: string } {
  let stdout = "";
  let stderr = "";
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const type = buffer[offset];
    const size = buffer.readUInt32BE(offset + 4);
    const payload = buffer.subarray(offset + 8, offset + 8 + size).toString("utf8");
    if (type === 2) stderr += payload;
    else stdout += payload;
    offset += 8 + size;
  }
  return { stdout, stderr };
}
