// Plugin ids and wiring only: the model, the views and the wire types live
// in their own modules.

import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IStateDB } from '@jupyterlab/statedb';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon } from '@jupyterlab/ui-components';

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

    const panel = new TrialbookPanel(model, {
      openNotebook,
      openMarkdown: path => void app.commands.execute('docmanager:open', { path, factory: 'Markdown Preview' }),
      saveConnection: async c => {
        await settings.set('serviceUrl', c.url);
        await settings.set('token', c.token);
      }
    });
    panel.title.icon = new LabIcon({ name: 'trialbook:panel', svgstr: iconSvg });
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
    palette?.addItem({ command: CommandIDs.open, category: 'Trialbook' });
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
