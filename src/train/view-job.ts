/**
 * One refresh of a run directory's views: chart.svg (and chart.png when asked), then
 * report.html embedding that chart. What the view worker runs, and what runs inline
 * where no worker can be started.
 */
import { writeChart } from './charts.js';
import { writeReport, type ReportData } from './report.js';

export interface ViewJob {
  dir: string;
  report: ReportData;
  /** Rasterise chart.png too (the costly half; done at epoch ends and at the end). */
  png: boolean;
}

export async function renderViews(job: ViewJob): Promise<void> {
  const chart = await writeChart(job.dir, job.report.history, { png: job.png });
  await writeReport(job.dir, job.report, { chartSvg: chart.svg });
}
