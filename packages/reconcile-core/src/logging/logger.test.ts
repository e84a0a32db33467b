import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "./logger.js";

describe("createLogger", () => {
  it("censors secrets nested in logged objects", () => {
    let text = "";
    const sink = new Writable({
      write(chunk, _enc, done) {
        text += String(chunk);
        done();
      },
    });
    const log = createLogger("t", { level: "info" }, sink);
    log.info({ nats: { url: "nats://x", token: "s3cr3t" }, password: "hunter2" }, "connect");
    expect(text).toContain("nats://x");
    expect(text).not.toContain("s3cr3t");
    expect(text).not.toContain("hunter2");
    expect(text).toContain("[redacted]");
  });
});
