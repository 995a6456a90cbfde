import { FrameType } from '@nowconnect/frames'; console.log('hub', FrameType.DATA);
