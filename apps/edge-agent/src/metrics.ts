import { createServer, type Server } from "node:http";
import type { ManifestStatus, Logger } from "@org/reconcile-core";
import { Counter, Gauge, Registry } from "prom-client";

/** The agent's Prometheus metrics, served on `metricsPort` when one is configured. */
export class AgentMetrics {
  readonly registry = new Registry();
  readonly resources = new Gauge({
    name: "edge_agent_resources",
    help: "Managed resources by state",
    labelNames: ["state"],
    registers: [this.registry],
  });
  readonly manifestGeneration = new Gauge({
    name: "edge_agent_manifest_generation",
    help: "Generation of the newest manifest received",
    registers: [this.registry],
  });
  readonly observedGeneration = new Gauge({
    name: "edge_agent_observed_generation",
    help: "Newest generation fully reconciled once",
    registers: [this.registry],
  });
  readonly manifestsApplied = new Counter({
    name: "edge_agent_manifests_applied_total",
    help: "Manifests applied",
    registers: [this.registry],
  });
  readonly manifestsRejected = new Counter({
    name: "edge_agent_manifests_rejected_total",
    help: "Manifests refused",
    labelNames: ["reason"],
    registers: [this.registry],
  });
  readonly heartbeats = new Counter({
    name: "edge_agent_heartbeats_total",
    help: "Heartbeats written",
    registers: [this.registry],
  });
  #server?: Server;

  observe(status: ManifestStatus): void {
    const counts: Record<string, number> = {
      Pending: 0,
      Reconciling: 0,
      Ready: 0,
      Failed: 0,
      Unknown: 0,
    };
    for (const r of Object.values(status.resources)) counts[r.state] = (counts[r.state] ?? 0) + 1;
    for (const [state, n] of Object.entries(counts)) this.resources.set({ state }, n);
    this.manifestGeneration.set(status.manifestGeneration);
    this.observedGeneration.set(status.observedGeneration);
  }

  async serve(port: number | undefined, log: Logger): Promise<void> {
    if (port === undefined) return;
    this.#server = createServer((req, res) => {
      if (req.url !== "/metrics") {
        res.writeHead(404).end("see /metrics\n");
        return;
      }
      void this.registry
        .metrics()
        .then((text) =>
          res.writeHead(200, { "content-type": this.registry.contentType }).end(text),
        );
    });
    await new Promise<void>((resolve) => this.#server!.listen(port, resolve));
    log.info({ port }, "serving Prometheus metrics on /metrics");
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) =>
      this.#server ? this.#server.close(() => resolve()) : resolve(),
    );
  }
}
