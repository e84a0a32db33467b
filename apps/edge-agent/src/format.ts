import {
  type CloudEvent,
  machineLoadFailedEvent,
  machineTransitionEvent,
  machineTransitionIgnoredEvent,
  type WatcherRegistry,
  WatcherStateSchema,
} from "@org/reconcile-core";

/**
 * One human line per machine event, in Choria's style:
 *   pi-7 ContainerManager transitioned via event absent: monitor => deploy
 *   pi-7 ContainerManager#deploy command: ./deploy.sh, previous: success ran: 0.513s
 */
export function formatMachineEvent(event: CloudEvent, watchers: WatcherRegistry): string {
  if (event.type === machineTransitionEvent.type) {
    const d = machineTransitionEvent.parse(event).data;
    return `${d.identity} ${d.machine} transitioned via event ${d.transition}: ${d.from_state} => ${d.to_state}`;
  }
  const state = WatcherStateSchema.safeParse(event.data);
  if (event.type.startsWith("io.choria.machine.watcher.") && state.success) {
    const d = state.data as Record<string, unknown> & typeof state.data;
    const summary = watchers.get(d.type)?.summarize?.(d);
    const what = summary ? `${summary}, ` : "";
    const ran =
      d.previous_run_time === undefined ? "" : ` ran: ${(d.previous_run_time / 1e9).toFixed(3)}s`;
    return `${d.identity} ${d.machine}#${d.name} ${what}previous: ${d.previous_outcome}${ran}`;
  }
  if (machineTransitionIgnoredEvent.is(event)) {
    const d = machineTransitionIgnoredEvent.parse(event).data;
    return `${d.identity} ${d.machine} ignored ${d.transition} in state ${d.state}: ${d.reason}`;
  }
  if (machineLoadFailedEvent.is(event)) {
    const d = machineLoadFailedEvent.parse(event).data;
    return `${d.identity} machine in ${d.directory} failed to load: ${d.error}`;
  }
  return `${event.subject ?? event.source} ${event.type} ${JSON.stringify(event.data)}`;
}
