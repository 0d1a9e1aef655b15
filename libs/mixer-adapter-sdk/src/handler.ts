import type {
  AuthorizationInstance,
  CheckNothingInstance,
  CheckResult,
  ListEntryInstance,
  LogEntryInstance,
  MetricInstance,
  QuotaArgs,
  QuotaInstance,
  QuotaResult,
  ReportNothingInstance,
  TemplateName,
} from './templates';

/** Every handler can be closed: mixer closes a handler when a config change no longer uses it. */
export interface Handler {
  close(): Promise<void>;
}

export interface CheckNothingHandler extends Handler {
  handleCheckNothing(instance: CheckNothingInstance): Promise<CheckResult>;
}

export interface ListEntryHandler extends Handler {
  handleListEntry(instance: ListEntryInstance): Promise<CheckResult>;
}

export interface AuthorizationHandler extends Handler {
  handleAuthorization(instance: AuthorizationInstance): Promise<CheckResult>;
}

export interface QuotaHandler extends Handler {
  handleQuota(instance: QuotaInstance, args: QuotaArgs): Promise<QuotaResult>;
}

/** Report handlers receive every instance of one Report batch at once. */
export interface MetricHandler extends Handler {
  handleMetric(instances: readonly MetricInstance[]): Promise<void>;
}

export interface LogEntryHandler extends Handler {
  handleLogEntry(instances: readonly LogEntryInstance[]): Promise<void>;
}

export interface ReportNothingHandler extends Handler {
  handleReportNothing(instances: readonly ReportNothingInstance[]): Promise<void>;
}

export interface HandlerOf {
  checknothing: CheckNothingHandler;
  listentry: ListEntryHandler;
  authorization: AuthorizationHandler;
  quota: QuotaHandler;
  metric: MetricHandler;
  logentry: LogEntryHandler;
  reportnothing: ReportNothingHandler;
}

/** The method a handler must have to take instances of each template. */
export const HANDLER_METHOD: Readonly<Record<TemplateName, string>> = {
  checknothing: 'handleCheckNothing',
  listentry: 'handleListEntry',
  authorization: 'handleAuthorization',
  quota: 'handleQuota',
  metric: 'handleMetric',
  logentry: 'handleLogEntry',
  reportnothing: 'handleReportNothing',
};

/** Whether `handler` implements the method for `template`. */
export function handlesTemplate<T extends TemplateName>(
  handler: Handler,
  template: T,
): handler is HandlerOf[T] {
  return typeof (handler as unknown as Record<string, unknown>)[HANDLER_METHOD[template]] === 'function';
}
