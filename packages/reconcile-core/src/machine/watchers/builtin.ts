import { archiveWatcher } from "./archive/index.js";
import { execWatcher } from "./exec/index.js";
import { expressionWatcher } from "./expression/index.js";
import { fileWatcher } from "./file/index.js";
import { kvWatcher } from "./kv/index.js";
import { nagiosWatcher } from "./nagios/index.js";
import { WatcherRegistry } from "./registry.js";
import { scheduleWatcher } from "./schedule/index.js";
import { timerWatcher } from "./timer/index.js";

/** A registry of every watcher type this package ships. */
export function builtinWatchers(): WatcherRegistry {
  return new WatcherRegistry([
    archiveWatcher,
    fileWatcher,
    execWatcher,
    nagiosWatcher,
    timerWatcher,
    scheduleWatcher,
    kvWatcher,
    expressionWatcher,
  ]);
}
