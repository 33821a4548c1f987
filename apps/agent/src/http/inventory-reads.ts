import { Inventory, type InventoryQuery } from '@hearth/contracts';
import { responseSerializerOf } from '@hearth/http-server';
import type { AgentContext } from '../application/agent-context.js';
import { InventoryEntries } from '../application/use-cases/inventory-entries.js';
import { listInventory } from '../application/use-cases/list-inventory.js';
import { InventoryAnswers } from './inventory-tag.js';

/** An inventory, its bytes as `GET /inventory` answers them, and their tag (the answer's `ETag`). */
export interface InventoryAnswer {
  readonly inventory: Inventory;
  readonly body: string;
  readonly tag: string;
}

/**
 * The Agent's inventory answers, for `GET /inventory` and for the heartbeat (which carries the tag
 * of the inventory without resources, so a Manager holding that one need not read it). Each kind of
 * read (with resources or without) keeps its entries and its last answer: an unchanged host is
 * answered without building, serialising or hashing any VM's entry again, whoever asks.
 */
export class InventoryReads {
  private readonly withResources: { readonly entries: InventoryEntries; readonly answers: InventoryAnswers };
  private readonly withoutResources: { readonly entries: InventoryEntries; readonly answers: InventoryAnswers };
  private readonly serialize = responseSerializerOf(Inventory);

  constructor(
    private readonly context: AgentContext,
    private readonly hostName: string,
    readonly instanceId: string,
  ) {
    this.withResources = { entries: new InventoryEntries(true), answers: new InventoryAnswers(instanceId) };
    this.withoutResources = { entries: new InventoryEntries(false), answers: new InventoryAnswers(instanceId) };
  }

  async answerOf(query: InventoryQuery): Promise<InventoryAnswer> {
    const read = query.resources === 'none' ? this.withoutResources : this.withResources;
    const inventory = await listInventory(this.context, this.hostName, query, read.entries);
    const { body, tag } = read.answers.answerOf(inventory, this.serialize);
    return { inventory, body, tag };
  }

  /** The tag `GET /inventory?resources=none` answers now: what the heartbeat carries. */
  async heartbeatTag(): Promise<string> {
    return (await this.answerOf({ resources: 'none' })).tag;
  }
}
