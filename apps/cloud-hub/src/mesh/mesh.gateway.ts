import { OnGatewayConnection, WebSocketGateway } from '@nestjs/websockets';
import type WebSocket from 'ws';
import { MeshManager } from './mesh-manager';

/**
 * `/mesh` on server.bind: Nest only wires the endpoint (the adapter's verify callback decides the
 * upgrade, no message handlers are bound); the MeshLink reads binary frames from ws itself.
 */
@WebSocketGateway({ path: '/mesh' })
export class MeshGateway implements OnGatewayConnection {
  constructor(private readonly mesh: MeshManager) {}

  handleConnection(ws: WebSocket): void {
    this.mesh.accept(ws);
  }
}
