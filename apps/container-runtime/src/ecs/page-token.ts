import { z } from "zod";
import { EcsError } from "./ecs-api.js";

const PageTokenSchema = z.object({ createdAt: z.number(), taskArn: z.string().startsWith("arn:") });
export type PageToken = z.infer<typeof PageTokenSchema>;

/** ListTasks' opaque `nextToken`: the last task returned, so tasks created meanwhile never shift a page. */
export function encodePageToken(token: PageToken): string {
  return Buffer.from(JSON.stringify(token)).toString("base64url");
}

export function decodePageToken(text: string): PageToken {
  try {
    return PageTokenSchema.parse(JSON.parse(Buffer.from(text, "base64url").toString("utf8")));
  } catch {
    throw new EcsError(
      "InvalidParameterException",
      `nextToken ${JSON.stringify(text.slice(0, 80))} was not issued by this endpoint's ListTasks; list again without nextToken`,
    );
  }
}
