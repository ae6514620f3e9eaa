// Owns span ids that are chosen before their span starts. A step's TRACEPARENT must name the step's own span, but
// the Kubernetes executor writes every step's environment into the Job when it creates it, long before the step
// runs; so the step's span id is drawn when its variables are first asked for and handed to the SDK when the span
// starts. The SDK offers no way to start a span with a given id other than its IdGenerator, hence this one.

import {type IdGenerator, RandomIdGenerator} from '@opentelemetry/sdk-trace-base'

export class ReservableIdGenerator implements IdGenerator {
  private next?: string
  // The SDK's own generator (never all-zero ids); node:crypto's randomBytes cost 2% of the agent's CPU per request.
  private readonly random = new RandomIdGenerator()

  generateTraceId(): string {
    return this.random.generateTraceId()
  }

  generateSpanId(): string {
    const reserved = this.next
    this.next = undefined
    return reserved ?? this.random.generateSpanId()
  }

  /** A fresh span id for a span that will be started later with startWithId. */
  reserveSpanId(): string {
    return this.random.generateSpanId()
  }

  /** Runs start (which must start exactly one span, synchronously) so that the span gets spanId. */
  startWithId<T>(spanId: string | undefined, start: () => T): T {
    this.next = spanId
    try {
      return start()
    } finally {
      this.next = undefined
    }
  }
}
