import { describe, expect, it } from "vitest";
import { parseCpus, parseMemory, parsePort } from "./quantities.js";

describe("limits and ports", () => {
  it.each([
    ["500m", 500_000_000],
    ["2", 2_000_000_000],
    ["0.5", 500_000_000],
    [1, 1_000_000_000],
  ])("cpus %s", (input, nano) => {
    expect(parseCpus(input)).toBe(nano);
  });

  it.each(["", "abc", "-1", "0", "5m", "2 cores"])("refuses cpus %j", (input) => {
    expect(() => parseCpus(input)).toThrow(/invalid CPU limit/);
  });

  it.each([
    ["512Mi", 512 * 2 ** 20],
    ["2Gi", 2 * 2 ** 30],
    ["1G", 1e9],
    ["512m", 512 * 2 ** 20],
    ["67108864", 64 * 2 ** 20],
  ])("memory %s", (input, bytes) => {
    expect(parseMemory(input)).toBe(bytes);
  });

  it("refuses unclear or too small memory limits", () => {
    expect(() => parseMemory("5 GB")).toThrow("invalid memory limit '5 GB': use 512Mi");
    expect(() => parseMemory("1Mi")).toThrow("below Docker's minimum of 6Mi");
  });

  it.each([
    ["8080", { container: 8080, protocol: "tcp" }],
    ["80:8080", { host: 80, container: 8080, protocol: "tcp" }],
    ["8080:8080/udp", { host: 8080, container: 8080, protocol: "udp" }],
    ["127.0.0.1:80:8080", { hostIp: "127.0.0.1", host: 80, container: 8080, protocol: "tcp" }],
    ["127.0.0.1::8080", { hostIp: "127.0.0.1", container: 8080, protocol: "tcp" }],
  ])("port %s", (input, mapping) => {
    expect(parsePort(input)).toEqual(mapping);
  });

  it.each(["0", "70000:80", "80:8080/sctp", "a:b", "1:2:3:4"])("refuses port %j", (input) => {
    expect(() => parsePort(input)).toThrow(/port/);
  });
});
