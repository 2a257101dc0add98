// Plugin ids and wiring only: the model, the views and the wire types live
// in their own modules.

import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { IStateDB } from '@jupyterlab/statedb';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon } from '@jupyterlab/ui-components';

import { DashboardWidget } from './dashboard';
import { DashboardModel } from './dashboardModel';
import { PanelModel } from './model';
import { TrialbookPanel } from './panel';
import { CommandIDs, PLUGIN_ID } from './tokens';

const iconSvg =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
  '<path d="M3 20h18v1.5H3z"/><rect x="4" y="12" width="3" height="7"/><rect x="10.5" y="8" width="3" height="11"/>' +
  '<rect x="17" y="4" width="3" height="15"/></g></svg>';

const STATE_KEY = `${PLUGIN_ID}:selected`;

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Watch and steer trialbook experiments from a side panel.',
  autoStart: true,
  requires: [ISettingRegistry],
  optional: [ILayoutRestorer, ICommandPalette, IStateDB],
  activate: async (
    app: JupyterFrontEnd,
    settingRegistry: ISettingRegistry,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    state: IStateDB | null
  ) => {
    const model = new PanelModel();
    const icon = new LabIcon({ name: 'trialbook:panel', svgstr: iconSvg });
    const openNotebook = (path: string) =>
      void app.commands.execute('docmanager:open', { path, factory: 'Notebook' });

    const settings = await settingRegistry.load(PLUGIN_ID);
    const apply = () => {
      model.notebookRoot = String(settings.composite.notebookRoot ?? '');
      void model.configure({
        url: String(settings.composite.serviceUrl ?? ''),
        token: String(settings.composite.token ?? '')
      });
    };
    settings.changed.connect(apply);

    // One dashboard tab per experiment; the layout restorer reopens them
    // after a reload through the open-dashboard command.
    const dashboards = new WidgetTracker<MainAreaWidget<DashboardWidget>>({ namespace: 'trialbook-dashboard' });
    const openDashboard = (experiment: string) => {
      const open = dashboards.find(w => w.content.model.experiment === experiment);
      if (open) {
        app.shell.activateById(open.id);
        return open;
      }
      const content = new DashboardWidget(new DashboardModel(experiment, model), { openNotebook });
      const widget = new MainAreaWidget({ content });
      // MainAreaWidget names its content "main area content": name the experiment.
      content.node.setAttribute('aria-label', `Dashboard of ${experiment}`);
      widget.id = `trialbook-dashboard:${experiment}`;
      widget.title.label = content.title.label;
      widget.title.caption = content.title.caption;
      widget.title.icon = icon;
      widget.title.closable = true;
      app.shell.add(widget, 'main');
      void dashboards.add(widget);
      app.shell.activateById(widget.id);
      return widget;
    };

    const panel = new TrialbookPanel(model, {
      openDashboard: id => void app.commands.execute(CommandIDs.openDashboard, { experiment: id }),
      openNotebook,
      openMarkdown: path => void app.commands.execute('docmanager:open', { path, factory: 'Markdown Preview' }),
      saveConnection: async c => {
        await settings.set('serviceUrl', c.url);
        await settings.set('token', c.token);
      }
    });
    panel.title.icon = icon;
    app.shell.add(panel, 'right', { rank: 600 });
    restorer?.add(panel, 'trialbook-panel');

    app.commands.addCommand(CommandIDs.open, {
      label: 'Show the Trialbook panel',
      execute: () => app.shell.activateById(panel.id)
    });
    app.commands.addCommand(CommandIDs.openNotebook, {
      label: 'Open a trialbook notebook',
      execute: args => openNotebook(String(args.path ?? ''))
    });
    app.commands.addCommand(CommandIDs.reconnect, {
      label: 'Trialbook: reconnect to the service',
      execute: () => model.refresh()
    });
    app.commands.addCommand(CommandIDs.openDashboard, {
      label: args => (args.experiment ? `Trialbook dashboard: ${String(args.experiment)}` : 'Open the Trialbook dashboard'),
      caption: 'The leaderboard, the search over time, each trial and comparisons of the chosen experiment',
      isEnabled: args => Boolean(args.experiment ?? model.selected),
      execute: args => {
        const id = String(args.experiment ?? model.selected ?? '');
        if (id) {
          openDashboard(id);
        }
      }
    });
    if (restorer) {
      void restorer.restore(dashboards, {
        command: CommandIDs.openDashboard,
        args: w => ({ experiment: w.content.model.experiment }),
        name: w => w.content.model.experiment
      });
    }
    palette?.addItem({ command: CommandIDs.open, category: 'Trialbook' });
    palette?.addItem({ command: CommandIDs.openDashboard, category: 'Trialbook' });
    palette?.addItem({ command: CommandIDs.reconnect, category: 'Trialbook' });

    // The chosen experiment survives a page reload. The state database
    // answers only once the application is restored, after every plugin has
    // activated: waiting for it here would hold up the whole page.
    if (state) {
      void app.restored
        .then(() => state.fetch(STATE_KEY))
        .then(saved => {
          if (typeof saved === 'string' && saved && !model.selected) {
            model.select(saved);
          }
          model.changed.connect(() => void state.save(STATE_KEY, model.selected ?? ''));
        });
    }

    apply();
  }
};

export default plugin;
